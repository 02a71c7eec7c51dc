# expect: runtime
# category: bad-return
# fault: returned int
def label_function(text):
    return 2 ** 200
