# expect: runtime
# category: huge-output
# fault: returned str
def label_function(text):
    return "x" * (10 ** 7)
