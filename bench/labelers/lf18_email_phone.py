import re


def label_function(text):
    if re.search(r"[\w.]+@[\w]+\.(com|net|org)", text):
        return 1
    if re.search(r"\b\d{3}[-. ]?\d{3}[-. ]?\d{4}\b", text):
        return 1
    return -1
