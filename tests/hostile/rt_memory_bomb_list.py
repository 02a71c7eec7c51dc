# expect: runtime
# category: memory-bomb
def label_function(text):
    hog = []
    while True:
        hog.append("b" * (10 ** 7) + text)
