# expect: validation
# category: introspection
def label_function(text):
    obj = type(text).mro()[-1]
    return 1 if obj else 0
