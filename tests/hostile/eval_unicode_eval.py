# expect: validation
# category: eval
def label_function(text):
    return ｅｖａｌ("1")
