# expect: runtime
# category: infinite-loop
# fault: timeout
def label_function(text):
    while True:
        pass
