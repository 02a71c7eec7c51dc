import re


def label_function(text):
    # "plzzzz", "!!!!!!" and "....." show up in spammy pleas
    if re.search(r"(z{3,}|!{4,}|\.{5,})", text):
        return 1
    if text.isupper() and len(text) > 15:
        return 1
    return -1
