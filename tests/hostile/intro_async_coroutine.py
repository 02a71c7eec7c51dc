# expect: validation
# category: introspection
async def probe():
    return 1
def label_function(text):
    c = probe()
    return 1 if c.cr_frame else 0
