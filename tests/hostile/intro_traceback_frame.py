# expect: validation
# category: introspection
def label_function(text):
    try:
        1 / 0
    except ZeroDivisionError as e:
        fr = e.__traceback__.tb_frame.f_globals
        return 1 if fr else 0
