# expect: validation
# category: exit
def label_function(text):
    exit(0)
