"""SynthEgoExo: the benchmark's embedded synthetic dataset (scene sampling, ray casting, building).

``scene.py`` draws scenes and scripts activities, ``raycast.py`` renders them, ``render.py`` turns one clip
index into an ``ExoEgoClip``, ``build.py`` writes splits in the on-disk format.
"""
