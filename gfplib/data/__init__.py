"""Face data: the procedural toy-face world, the paired training datasets (taught in notebooks/02_face_data) and
one real demo face."""
from gfplib.data.toyfaces import (COMPONENTS, FFHQ_TEMPLATE_512, ToyFace, ToyFaceBatch, ToyFaceConfig,
                                  ToyFaceGenerator, ToyIdentity, ToyNuisance, boxes_from_components, faces_to_tensor,
                                  hflip_face, template_landmarks)
from gfplib.data.demo import demo_face
from gfplib.data.datasets import (FFHQFolderDataset, ToyFaceDataset, collate_pairs, flip_components_official,
                                  load_component_file)

__all__ = [
    "COMPONENTS", "FFHQ_TEMPLATE_512", "ToyFace", "ToyFaceBatch", "ToyFaceConfig", "ToyFaceGenerator", "ToyIdentity",
    "ToyNuisance", "boxes_from_components", "faces_to_tensor", "hflip_face", "template_landmarks",
    "ToyFaceDataset", "FFHQFolderDataset", "collate_pairs", "flip_components_official", "load_component_file",
    "demo_face",
]
