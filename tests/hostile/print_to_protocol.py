# expect: validation
# category: huge-output
def label_function(text):
    print("\x00\x00\x00\x10garbage-frame" * 1000)
    return 0
