# expect: runtime
# category: bad-return
# fault: returned bool
def label_function(text):
    return True
