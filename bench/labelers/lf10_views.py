import re


def label_function(text):
    # "who is watching in 2015", "1 billion views": typical genuine comments
    if re.search(r"\b(20[01]\d|billion|million)\b", text.lower()):
        return 0
    return -1
