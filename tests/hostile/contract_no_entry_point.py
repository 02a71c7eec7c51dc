# expect: validation
# category: bad-contract
def classify(text):
    return 0
