def label_function(text):
    t = text.lower()
    if "please" in t and ("like" in t or "share" in t or "sub" in t):
        return 1
    return -1
