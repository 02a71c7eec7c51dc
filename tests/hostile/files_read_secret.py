# expect: validation
# category: files
def label_function(text):
    with open("SECRET_PATH") as f:
        return 1 if "CANARY" in f.read() else 0
