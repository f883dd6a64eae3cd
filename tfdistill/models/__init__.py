"""The teacher and the students: keras-hub BERT teachers, small Keras students."""

from tfdistill.models.bert_tagger import BertTokenClassifier
from tfdistill.models.features import bert_features
from tfdistill.models.features import uniform_layer_map
from tfdistill.models.pretrained import PRETRAINED_BACKBONES
from tfdistill.models.pretrained import load_pretrained_backbone
from tfdistill.models.students import STUDENTS
from tfdistill.models.students import Student
from tfdistill.models.students import build_student
from tfdistill.models.students import check_serves
from tfdistill.models.students import load_student
from tfdistill.models.students import register_student
from tfdistill.models.students import save_student
from tfdistill.models.students import students_for
from tfdistill.models.students.bilstm_tagger import build_word_tagger
from tfdistill.models.teachers import PACKAGED_MINILM
from tfdistill.models.teachers import finetune_teacher
from tfdistill.models.teachers import freeze
from tfdistill.models.teachers import load_teacher
from tfdistill.models.teachers import load_teacher_tokenizer
from tfdistill.models.teachers import resolve_preset
from tfdistill.models.word_vectors import teacher_word_vectors
