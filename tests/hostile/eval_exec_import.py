# expect: validation
# category: eval
def label_function(text):
    exec("import os; os.system('touch CANARY_DIR/pwned')")
    return 1
