def label_function(text):
    letters = [c for c in text if c.isalpha()]
    if len(letters) == 0:
        return -1
    upper_ratio = sum(1 for c in letters if c.isupper()) / len(letters)
    if upper_ratio > 0.7 and len(letters) > 10:
        return 1
    return -1
