# expect: validation
# category: bad-contract
def label_function(text, extra):
    return 0
