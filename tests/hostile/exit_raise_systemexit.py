# expect: validation
# category: exit
def label_function(text):
    raise SystemExit(0)
