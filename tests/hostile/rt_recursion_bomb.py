# expect: runtime
# category: recursion-bomb
# fault: RecursionError
def down(n):
    return down(n + 1) + 1
def label_function(text):
    return down(0)
