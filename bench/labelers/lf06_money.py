import re

MONEY = re.compile(r"\$\d+|\d+\s*(dollars|usd)|make money|earn money|cash", re.I)


def label_function(text):
    if MONEY.search(text):
        return 1
    return -1
