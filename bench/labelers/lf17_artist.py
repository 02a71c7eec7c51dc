def label_function(text):
    text_lower = text.lower()
    artists = ["katy", "perry", "eminem", "shakira", "psy", "rihanna", "lmfao"]
    mentions = 0
    for a in artists:
        if a in text_lower:
            mentions += 1
    if mentions >= 1 and "channel" not in text_lower:
        return 0
    return -1
