# expect: runtime
# category: huge-output
# fault: raised
def label_function(text):
    raise ValueError("x" * (10 ** 7))
