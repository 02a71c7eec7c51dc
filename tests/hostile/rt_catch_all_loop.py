# expect: runtime
# category: infinite-loop
# fault: timeout
def label_function(text):
    while True:
        try:
            while True:
                pass
        except Exception:
            pass
