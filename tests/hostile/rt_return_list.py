# expect: runtime
# category: bad-return
# fault: returned list
def label_function(text):
    return [1] * 1000000
