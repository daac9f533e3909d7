"""The lecture notes' own words behind each claim (``../shared/lecture/``, students' notes of EECS 498 /
cs231n lecture 10, partly in Turkish): file, section and the words as written, with a translation where
they are not English. A claim names its quote by key; the index prints it beside the verdict."""
from __future__ import annotations

from dataclasses import dataclass

A, B = "000_8f4f9a8300bc343a.txt", "001_ffdfa8fa93df1a02.txt"


@dataclass(frozen=True)
class Quote:
    file: str
    section: str
    words: str
    english: str = ""   # empty where the words are English

    def show(self) -> str:
        said = f"\"{self.words}\"" + (f" ({self.english})" if self.english else "")
        return f"{said}, {self.file} § {self.section}"


QUOTES = {
    "mnist": Quote(A, "MNIST Dataseti", "28x28 pixel * Toplam 70.000 resim mevcut (60.000 eğitim - 10.000 test)",
                   "28x28 pixels; 70,000 images in all (60,000 training, 10,000 test)"),
    "relu-faster": Quote(B, "Activation function: ReLU",
                         "Converges much faster than sigmoid/tanh in practice (e.g. 6x)"),
    "sigmoid-exp": Quote(A, "Aktivasyon Fonksiyonları: 1. Sigmoid", "exp() hesaplanması yavaş",
                         "exp() is slow to compute"),
    "elu-exp": Quote(A, "Aktivasyon Fonksiyonları: 5. ELU", "exp() kullandığı için biraz daha yavaş",
                     "a bit slower because it uses exp()"),
    "similar": Quote(B, "Activation Functions: Summary", "Don't think too hard. Just use **ReLU** * All of them have "
                                                          "similar results."),
    "no-sigmoid": Quote(A, "Aktivasyon Fonksiyonları", "Sigmoid kullanmayın.", "Don't use sigmoid."),
    "tanh-usable": Quote(A, "Aktivasyon Fonksiyonları", "tanh kullanılabilir ama ReLU çoğu durumda daha iyi olacaktır.",
                         "tanh can be used, but ReLU will be better in most cases."),
    "maxout-params": Quote(A, "Aktivasyon Fonksiyonları: 6. Maxout", "Parametre sayısını iki katına çıkarıyor",
                           "it doubles the number of parameters"),
    "sigmoid-kills": Quote(B, "Sigmoid", "Saturated neurons \"kill\" the gradients"),
    "tanh-kills": Quote(A, "Aktivasyon Fonksiyonları: 2. tanh", "Hala gradient ölümü olabiliyor",
                        "gradients can still die"),
    "sigmoid-centered": Quote(A, "Aktivasyon Fonksiyonları: 1. Sigmoid / 2. tanh", "0 odaklı değil ... Sıfır odaklı",
                              "(sigmoid) not zero-centred ... (tanh) zero-centred"),
    "leaky-centered": Quote(A, "Aktivasyon Fonksiyonları: 4. Leaky ReLU",
                            "Sıfır odaklı olduğu için nöron ölümü yok",
                            "no dying neurons, because it is zero-centred"),
    "relu-no-saturation": Quote(A, "Aktivasyon Fonksiyonları: 3. ReLU", "Gradient ölümü yok", "no gradient death"),
    "relu-not-centered": Quote(A, "Aktivasyon Fonksiyonları: 3. ReLU", "0 odaklı değil", "not zero-centred"),
    "leaky-advantages": Quote(A, "Aktivasyon Fonksiyonları: 4. Leaky ReLU", "ReLU'nun getirdiği tüm avantajlar",
                              "all the advantages ReLU brings"),
    "relu-first": Quote(A, "Aktivasyon Fonksiyonları", "İlk olarak ReLU kullanın.", "Use ReLU first."),
    "relu-dies": Quote(A, "Aktivasyon Fonksiyonları: 3. ReLU", "Bazı nöronlar ölebiliyor", "some neurons can die"),
    "leaky-lives": Quote(B, "Leaky ReLU", "Will not \"die\""),
    "elu-lives": Quote(B, "Exponential Linear Unit (ELU)", "All benefits of RELU"),
    "maxout-lives": Quote(A, "Aktivasyon Fonksiyonları: 6. Maxout", "Nöron ölümü yok", "no dying neurons"),
    "elu-noise": Quote(B, "Exponential Linear Unit (ELU)", "Adds some robustness to noise"),
    "selu": Quote(B, "Scaled ELU", "Scaled version of ELU that works better in deep networks"),
    "loss-zero": Quote(A, "Loss (Cost) Fonksiyonları", "Eğitim esnasında zamanla sıfıra yaklaşmasını bekleriz.",
                       "we expect it to approach zero over time during training."),
    "loss-l2": Quote(A, "Loss (Cost) Fonksiyonları", "L2 Loss Fonksiyonu en çok kullanılan fonksiyondur.",
                     "the L2 loss is the most used function"),
    "loss-ce": Quote(A, "Loss (Cost) Fonksiyonları", "Cross Entropy Loss Fonksiyonu",
                     "the cross-entropy loss function"),
    "lr-small": Quote(A, "Öğrenme Oranı (Learning Rate)", "Çok küçük bir sayı atanır (Örn. 0.0005)",
                      "a very small number is assigned (e.g. 0.0005)"),
    "lr-large": Quote(A, "Öğrenme Oranı (Learning Rate)", "Büyük olursa minimuma ulaşılamaz",
                      "if it is large, the minimum cannot be reached"),
    "lr-slow": Quote(A, "Öğrenme Oranı (Learning Rate)", "Küçük olursa model yavaş öğrenir",
                     "if it is small, the model learns slowly"),
    "preprocessing": Quote(B, "Data Processing", "Before normalization; classification loss very sensitive * After "
                                                 "normalization; Less sensitive to small changes"),
    "init-zero": Quote(B, "Weight Initialization", "Hepsini sıfırla başlatalım? İyi bir fikir değil.",
                       "initialize them all with zero? Not a good idea."),
    "init-small": Quote(B, "Weight Initialization", "Küçük rastgele sayılar atayalım? Küçük network ler için "
                                                    "çalışıyor. Büyük networkler için sorun oluyor.",
                        "assign small random numbers? It works for small networks; for big networks it is a "
                        "problem."),
    "regularization": Quote(A, "Regularization (Düzenlileştirme)",
                            "Regularization modelde kompleksliği cezalandırarak daha iyi genelleştirme yapmasını "
                            "sağlar.", "regularization penalizes complexity so that the model generalizes better."),
    "more-data": Quote(A, "Regularization (Düzenlileştirme)", "Daha fazla data ekle", "add more data"),
    "l2-penalty": Quote(A, "Regularization (Düzenlileştirme)", "Loss fonksiyonuna ekstra fonksiyon ekle",
                        "add an extra function to the loss"),
    "dropout-fc": Quote(B, "Regularization: Dropout", "Use DropOut for large fully-connected layers"),
    "regularizers": Quote(B, "Regularization", "Fractional Pooling * Cutout * Mixup * CutMix * Label Smooting"),
    "augment-always": Quote(B, "Regularization", "Data augmentation always is a good idea"),
    "augment-transforms": Quote(B, "Data Augmentation", "Resmin sağa, sola döndürülmesi * Rasgele bir kısmının "
                                                        "alınması * Magnitude change, contrast change",
                                "turning the image right or left; taking a random part of it; magnitude change, "
                                "contrast change"),
}
