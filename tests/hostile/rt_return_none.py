# expect: runtime
# category: bad-return
# fault: returned NoneType
def label_function(text):
    return None
