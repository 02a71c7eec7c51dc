# expect: validation
# category: eval
def label_function(text):
    code = compile("1", "x", "eval")
    return 1 if code else 0
