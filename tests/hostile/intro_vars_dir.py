# expect: validation
# category: introspection
def label_function(text):
    return 1 if vars(text) or dir(text) else 0
