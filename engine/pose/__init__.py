"""Person detection and pose: frames → persons with boxes and COCO-17 keypoints (docs/architecture.md).

- ``base``: the backend protocol (``estimate(frames)``, ``__call__(frame)``) and shared conversions;
- ``keypoint_rcnn``: torchvision Keypoint R-CNN (multi-person; the GPU default);
- ``mediapipe_pose``: mediapipe's bundled BlazePose (CPU, no download), per frame or per detector box;
- ``mediapipe_multi``: every person from mediapipe's bundled detector + landmark graphs (CPU, no download;
  tiled detection, ROIs tracked from landmarks; the CPU ``auto`` choice without detector weights);
- ``person_detector``: torchvision COCO person detector in front of mediapipe, when its weights are cached;
- ``factory``: ``build_pose_backend(config, device)`` incl. ``auto``; ``stage``: ``PoseStage``;
- ``bench``: ``python main.py bench pose``.

Nothing is imported here, so ``import engine.pose`` stays cheap.
"""
