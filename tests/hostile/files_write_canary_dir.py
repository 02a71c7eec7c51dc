# expect: validation
# category: files-write
def label_function(text):
    open("CANARY_DIR/pwned", "w").write(text)
    return 1
