# expect: runtime
# category: infinite-loop
def label_function(text):
    n = 9 ** (9 ** 9)
    return 0 if n else -1
