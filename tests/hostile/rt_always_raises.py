# expect: runtime
# category: exceptions
# fault: ValueError
def label_function(text):
    raise ValueError("I refuse to label " + text)
