# expect: validation
# category: files
def label_function(text):
    data = open("/etc/passwd").read()
    return 1 if "root" in data else 0
