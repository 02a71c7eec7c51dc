# expect: runtime
# category: exceptions
# fault: failed to load
raise RuntimeError("boom at import")
def label_function(text):
    return 0
