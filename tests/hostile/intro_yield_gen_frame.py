# expect: validation
# category: introspection
def gen():
    yield 1
def label_function(text):
    g = gen()
    next(g)
    return 1 if g.gi_frame.f_locals is not None else 0
