# expect: validation
# category: eval
def label_function(text):
    return eval("__import__('os').getpid()") and 1
