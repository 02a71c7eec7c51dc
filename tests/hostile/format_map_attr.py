# expect: validation
# category: format-string
def label_function(text):
    leaked = "{t.__class__}".format_map({"t": text})
    return 1 if leaked else 0
