# expect: runtime
# category: infinite-loop
# fault: timeout
while True:
    pass
def label_function(text):
    return 0
