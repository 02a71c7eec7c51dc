# expect: validation
# category: files-write
import shutil
def label_function(text):
    shutil.rmtree("CANARY_DIR")
    return 1
