# expect: runtime
# category: memory-bomb
def label_function(text):
    blob = "a" * (10 ** 11)
    return 0 if blob else -1
