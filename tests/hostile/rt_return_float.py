# expect: runtime
# category: bad-return
# fault: returned float
def label_function(text):
    return 1.0
