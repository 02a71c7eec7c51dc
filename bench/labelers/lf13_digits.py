def label_function(text):
    digits = sum(c.isdigit() for c in text)
    if len(text) > 0 and digits / len(text) > 0.15:
        return 1
    return -1
