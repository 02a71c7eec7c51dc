# expect: validation
# category: format-string
def label_function(text):
    leaked = "{0.__class__.__mro__}".format(text)
    return 1 if "object" in leaked else 0
