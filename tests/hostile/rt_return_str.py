# expect: runtime
# category: bad-return
# fault: returned str
def label_function(text):
    return "spam"
