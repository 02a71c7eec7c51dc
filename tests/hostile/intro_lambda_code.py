# expect: validation
# category: introspection
def label_function(text):
    return 1 if (lambda: 0).__code__.co_consts is not None else 0
