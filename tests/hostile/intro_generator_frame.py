# expect: validation
# category: introspection
def label_function(text):
    g = (x for x in [1])
    f = g.gi_frame.f_back.f_globals
    return 1 if f else 0
