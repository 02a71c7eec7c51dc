# expect: runtime
# category: time-bomb
# fault: timeout
CALLS = []
def label_function(text):
    CALLS.append(1)
    if len(CALLS) > 5:
        while True:
            pass
    return 0
