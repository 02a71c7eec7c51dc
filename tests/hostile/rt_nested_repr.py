# expect: runtime
# category: recursion-bomb
# fault: raised
def label_function(text):
    x = []
    for i in range(100000):
        x = [x]
    return 0 if str(x) else -1
